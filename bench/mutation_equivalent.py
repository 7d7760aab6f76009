"""The mutants of `make mutate` reviewed as equivalent: the program behaves the same with them, so no test can
kill them. Mutant name -> the reason, grouped by module under its comment. Reviewed with `mutmut show NAME`
against the current source; a change to a module renumbers its mutants, so its entries are re-checked then."""

from __future__ import annotations

_NONE_SYNC = ("SQLAlchemy reads synchronize_session only for 'auto', 'evaluate' and 'fetch'; None takes the same "
              "path as False (no session synchronization)")

# Reviewed survivors that no test can kill because the program behaves the same; name -> reason.
# Grouped by module, under its comment.
EQUIVALENT: dict[str, str] = {
    # app/services/leases.py

    # worker/leases.py
    "worker.leases.xǁLeaseKeeperǁ__init____mutmut_6":
        '`_thread` is only read after `start()` assigns it; its initial value (None or "") is never used',
    "worker.leases.xǁReaperǁ__init____mutmut_5":
        "the default `paused` answers None instead of False; both are falsy where it is tested (`if`, `not`)",

    # app/services/execution.py
    "app.services.execution.xǁRunExecutorǁ__init____mutmut_1":
        "64 or 65 branch threads: the pool size bounds concurrency only, never a result",
    "app.services.execution.xǁRunExecutorǁ__init____mutmut_13":
        "without the shared pool GraphRunner makes its own per run: same results, only more thread churn",
    "app.services.execution.xǁRunExecutorǁ__init____mutmut_14":
        "the default pool size instead of `branch_threads`: bounds concurrency only, never a result",
    "app.services.execution.xǁRunExecutorǁ__init____mutmut_15":
        "thread names of the branch pool are cosmetic",
    "app.services.execution.xǁRunExecutorǁ__init____mutmut_16":
        "the default pool size instead of `branch_threads`: bounds concurrency only, never a result",
    "app.services.execution.xǁRunExecutorǁ__init____mutmut_17":
        "thread names of the branch pool are cosmetic",
    "app.services.execution.xǁRunExecutorǁ__init____mutmut_18":
        "thread names of the branch pool are cosmetic",
    "app.services.execution.xǁRunExecutorǁ__init____mutmut_19":
        "thread names of the branch pool are cosmetic",
    "app.services.execution.xǁRunExecutorǁabandon__mutmut_27":
        _NONE_SYNC,
    "app.services.execution.xǁRunExecutorǁabandon__mutmut_16":
        "codec names are case-insensitive: UTF-8 is utf-8",
    "app.services.execution.xǁRunExecutorǁabandon__mutmut_20":
        "codec names are case-insensitive: UTF-8 is utf-8",
    "app.services.execution.xǁRunExecutorǁexecute__mutmut_165":
        ("the early return for a stopped run that lost its lease only saves a round trip: the fenced finish, which "
         "also writes a chat turn, is refused for a lost lease whatever the status"),
    "app.services.execution.xǁRunExecutorǁ_stop_checker__mutmut_16":
        ("`>` instead of `>=` on time.monotonic() differs only when two readings are exactly 0.25 s apart, "
         "which no run can arrange or notice"),
    "app.services.execution.xǁRunExecutorǁexecute__mutmut_123":
        "without the shared pool GraphRunner makes its own per run: same results, only more thread churn",
    "app.services.execution.xǁRunExecutorǁexecute__mutmut_127":
        "without the shared pool GraphRunner makes its own per run: same results, only more thread churn",
    "app.services.execution.xǁRunExecutorǁexecute__mutmut_144":
        "GraphRunner.run reads `env or {}`: None and {} are the same empty override",
    "app.services.execution.xǁRunExecutorǁexecute__mutmut_41":
        "`urgent=None` instead of False: the batcher only tests it for truth",

    # app/services/admission.py
    "app.services.admission.x_request_hash__mutmut_4":
        "ensure_ascii=None is falsy, the same as False: the same JSON, the same hash",
    "app.services.admission.xǁAdmissionǁcheck_capacity__mutmut_21":
        "SQLAlchemy renders func.count(None) as count(*): the same number as count(id), which is never NULL",

    # app/providers/egress.py
    "app.providers.egress.x__system_resolve__mutmut_5":
        "getaddrinfo answers the same addresses without a port; only the address of each answer is kept",
    "app.providers.egress.x_is_file_response__mutmut_1":
        "the default disposition 'XXXX' holds no 'attachment' either, like ''",
    "app.providers.egress.xǁEgressClientǁ__init____mutmut_10":
        ("a transport is always passed, and httpx reads no proxy variables then (allow_env_proxies = "
         "trust_env and transport is None); trust_env has no other effect on the client"),
    "app.providers.egress.xǁEgressClientǁ__init____mutmut_13":
        ("a transport is always passed, and httpx reads no proxy variables then (allow_env_proxies = "
         "trust_env and transport is None); trust_env has no other effect on the client"),
    "app.providers.egress.xǁEgressClientǁ__init____mutmut_17":
        ("a transport is always passed, and httpx reads no proxy variables then (allow_env_proxies = "
         "trust_env and transport is None); trust_env has no other effect on the client"),
    "app.providers.egress.xǁEgressClientǁ_insecure__mutmut_15":
        ("a transport is always passed, and httpx reads no proxy variables then (allow_env_proxies = "
         "trust_env and transport is None); trust_env has no other effect on the client"),
    "app.providers.egress.xǁEgressClientǁ_insecure__mutmut_4":
        ("a transport is always passed, and httpx reads no proxy variables then (allow_env_proxies = "
         "trust_env and transport is None); trust_env has no other effect on the client"),
    "app.providers.egress.xǁEgressClientǁ_insecure__mutmut_7":
        ("a transport is always passed, and httpx reads no proxy variables then (allow_env_proxies = "
         "trust_env and transport is None); trust_env has no other effect on the client"),
    "app.providers.egress.xǁEgressClientǁ_precheck__mutmut_18":
        "rsplit('@') with no limit: [-1] is the same last part",
    "app.providers.egress.xǁEgressClientǁ_precheck__mutmut_23":
        "split('?') with no limit: [0] is the same first part",
    "app.providers.egress.xǁEgressClientǁ_precheck__mutmut_28":
        "split('/') with no limit: [0] is the same first part",
    "app.providers.egress.xǁEgressClientǁ_precheck__mutmut_31":
        "split('/', 2): [0] is the same first part",
    "app.providers.egress.xǁEgressClientǁ_precheck__mutmut_34":
        "split('?', 2): [0] is the same first part",
    "app.providers.egress.xǁEgressClientǁ_precheck__mutmut_37":
        "rsplit('@', 2): [-1] is the same last part",
    "app.providers.egress.xǁEgressClientǁ_read__mutmut_6":
        "monotonic() equal to the deadline to the last bit is not observable: the next chunk's check is the same",
    "app.providers.egress.xǁEgressClientǁrequest__mutmut_55":
        "httpx upper-cases a request's method itself: 'post' is sent as POST",
    "app.providers.egress.xǁEgressClientǁrequest__mutmut_79":
        "a missing Content-Disposition read as 'XXXX' holds no 'attachment' either",
    "app.providers.egress.xǁEgressPolicyǁadmits__mutmut_4":
        "the name is lower-cased first, so stripping 'X' as well as '.' strips nothing more",
    "app.providers.egress.xǁEgressPolicyǁparse__mutmut_10":
        "strict=None is falsy, the same as strict=False",
    "app.providers.egress.xǁGuardedBackendǁ__init____mutmut_11":
        "the lookup threads' names are not visible to any caller",
    "app.providers.egress.xǁGuardedBackendǁ__init____mutmut_13":
        "the lookup threads' names are not visible to any caller",
    "app.providers.egress.xǁGuardedBackendǁ__init____mutmut_14":
        "the lookup threads' names are not visible to any caller",
    "app.providers.egress.xǁGuardedBackendǁ__init____mutmut_9":
        "the lookup threads' names are not visible to any caller",
    "app.providers.egress.xǁGuardedBackendǁconnect_tcp__mutmut_12":
        "the pool never passes a local address (GuardedTransport sets none): it is None either way",
    "app.providers.egress.xǁGuardedBackendǁconnect_tcp__mutmut_13":
        "the pool never passes socket options (GuardedTransport sets none): they are None either way",
    "app.providers.egress.xǁGuardedBackendǁconnect_tcp__mutmut_17":
        "drops local_address, which the pool always passes as None (the default)",
    "app.providers.egress.xǁGuardedBackendǁconnect_tcp__mutmut_18":
        "drops socket_options, which the pool always passes as None (the default)",
    "app.providers.egress.xǁGuardedBackendǁconnect_tcp__mutmut_8":
        "vet never returns an empty list (it raises), so `last` is always reassigned before it is read",
    "app.providers.egress.xǁGuardedTransportǁ__init____mutmut_3":
        "trust_env=None is falsy, the same as False",

    # app/engine/templating.py
    "app.engine.templating.x__charged__mutmut_3": "the generated code prints through str() or escape(), so `value` "
    "is always a str: forcing the str branch changes nothing",
    "app.engine.templating.x__charged__mutmut_4": "the non-str branch is dead (see _charged__mutmut_3), so its "
    "charge of 16 is never used",
    "app.engine.templating.xǁ_CheckedConcatǁ_output_child_pre__mutmut_4": "Jinja's CodeGenerator._output_child_pre "
    "reads only frame and finalize, never node",
    "app.engine.templating.xǁ_CheckedConcatǁ_output_child_post__mutmut_1": "Jinja's "
    "CodeGenerator._output_child_post reads only finalize, never node",
    "app.engine.templating.xǁ_CheckedConcatǁ_output_child_post__mutmut_2": "Jinja's "
    "CodeGenerator._output_child_post reads only finalize, never frame",
    "app.engine.templating.xǁLimitedEnvironmentǁcall_binop__mutmut_13": "SandboxedEnvironment.call_binop ignores "
    "its context argument (it looks the operator up in binop_table)",
    "app.engine.templating.xǁLimitedEnvironmentǁcall__mutmut_29": "only bound str methods reach this line, and they "
    "all have __name__: the getattr default is never used",
    "app.engine.templating.xǁLimitedEnvironmentǁcall__mutmut_32": "only bound str methods reach this line, and they "
    "all have __name__: dropping the getattr default changes nothing",
    "app.engine.templating.xǁLimitedEnvironmentǁcall__mutmut_35": "only bound str methods reach this line, and they "
    "all have __name__: the getattr default is never used",
    "app.engine.templating.xǁLimitedEnvironmentǁconcat__mutmut_2": "str() of a str is the same text, so converting "
    "every part measures and joins the same strings",

    # app/providers/sandbox.py
    "app.providers.sandbox.x__parse__mutmut_3":
        "for empty output the split's last part is b'' too: the same as the else branch",
    "app.providers.sandbox.xǁProcessSandboxǁ_collect__mutmut_61":
        ("break instead of continue after serving the relay: the selector is level-triggered, the skipped "
         "ready pipes come back in the next select"),
    "app.providers.sandbox.xǁProcessSandboxǁ_collect__mutmut_68":
        "on the output-cap path the output is over output_bytes, so the message is the output one whatever the status",
    "app.providers.sandbox.xǁProcessSandboxǁ_collect__mutmut_69":
        "on the output-cap path the output is over output_bytes, so the message is the output one whatever the status",
    "app.providers.sandbox.xǁProcessSandboxǁ_collect__mutmut_82":
        "the status is not used when the run timed out (the message is the wall-clock one)",
    "app.providers.sandbox.xǁProcessSandboxǁexecute__mutmut_55":
        ("the socket pair is a local of execute: CPython closes it when the call returns; only a "
         "ResourceWarning differs"),
    "app.providers.sandbox.xǁProcessSandboxǁexecute__mutmut_71":
        ("the socket pair is a local of execute: CPython closes it when the call returns; only a "
         "ResourceWarning differs"),
    "app.providers.sandbox.x__kill_group__mutmut_10":
        "CPython closes the pipes when the Popen is dropped at the end of _spawn: only a ResourceWarning differs",
    "app.providers.sandbox.x__kill_group__mutmut_2":
        ("killpg is refused (EPERM) only for another user's processes; the group runs as the worker's user "
         "or, from a root worker, as nobody: both signalable"),
    "app.providers.sandbox.x__kill_group__mutmut_4":
        ("killpg is refused (EPERM) only for another user's processes; the group runs as the worker's user "
         "or, from a root worker, as nobody: both signalable"),
    "app.providers.sandbox.x__kill_group__mutmut_9":
        "the three streams are always pipes (never None), so `stream or ...` is `not closed` as before",
    "app.providers.sandbox.x__parse__mutmut_8":
        "empty output read as b'XXXX' is not JSON either: None as before",
    "app.providers.sandbox.xǁProcessSandboxǁ_collect__mutmut_1":
        "the three streams are always pipes, so the assertion holds either way",
    "app.providers.sandbox.xǁProcessSandboxǁ_collect__mutmut_2":
        "the three streams are always pipes, so the assertion holds either way",
    "app.providers.sandbox.xǁProcessSandboxǁ_collect__mutmut_26":
        "the relay's selector data is never read: _serve is handed the local `pending` buffer",
    "app.providers.sandbox.xǁProcessSandboxǁ_collect__mutmut_29":
        "the relay's selector data is never read: _serve is handed the local `pending` buffer",
    "app.providers.sandbox.xǁProcessSandboxǁ_collect__mutmut_34":
        "a remaining time of exactly 0.0 is not observable: select(0) returns at once and the next turn times out",
    "app.providers.sandbox.xǁProcessSandboxǁ_collect__mutmut_38":
        "the status is not used when the run timed out (the message is the wall-clock one)",
    "app.providers.sandbox.xǁProcessSandboxǁ_collect__mutmut_46":
        "reading 65537 instead of 65536 bytes a turn changes only the chunking; the cap is checked after each",
    "app.providers.sandbox.xǁProcessSandboxǁ_collect__mutmut_49":
        ("break instead of continue after an EOF: the selector is level-triggered, the other ready pipe is "
         "returned by the next select"),
    "app.providers.sandbox.xǁProcessSandboxǁ_serve__mutmut_11":
        "monotonic() equal to the deadline to the last bit is not observable",
    "app.providers.sandbox.xǁProcessSandboxǁ_spawn__mutmut_18":
        "close_fds=True is Popen's default: dropping it changes nothing",
    "app.providers.sandbox.xǁProcessSandboxǁexecute__mutmut_51":
        "ensure_ascii=None is falsy, the same as False",

    # app/api/auth.py
    "app.api.auth.x_client_ip__mutmut_10":
        "request headers are looked up case-insensitively: 'X-FORWARDED-FOR' is the same header",
    "app.api.auth.x_client_ip__mutmut_22":
        "the placeholder for a missing peer address is only a counter key: any constant blocks the same clients",
    "app.api.auth.x_client_ip__mutmut_23":
        "the placeholder for a missing peer address is only a counter key: any constant blocks the same clients",
    "app.api.auth.x_client_ip__mutmut_9":
        "request headers are looked up case-insensitively: 'x-forwarded-for' is the same header",

    # app/engine/conditions.py

    # app/engine/nodes/if_else.py

    # app/engine/graph.py
    "app.engine.graph.x_build_graph__mutmut_1": "the default mode is only looked up in TERMINAL_TYPES, and an unknown "
    "mode needs an end node exactly like 'workflow'",
    "app.engine.graph.x_build_graph__mutmut_2": "the default mode is only looked up in TERMINAL_TYPES, and an unknown "
    "mode needs an end node exactly like 'workflow'",
    "app.engine.graph.x__allowed_handles__mutmut_3": "a None default is as falsy as False in the `if`",
    "app.engine.graph.x__allowed_handles__mutmut_18": "every node's data is a NodeData, which declares "
    "error_strategy: the getattr default is never used",
    "app.engine.graph.x__check_acyclic__mutmut_21": "a finished node is only tested for `== 1` (on the path) and "
    "for presence in `state`: None marks it finished as well as 2",
    "app.engine.graph.x__check_acyclic__mutmut_22": "a finished node is only tested for `== 1` (on the path) and "
    "for presence in `state`: 3 marks it finished as well as 2",
    "app.engine.graph.x__body_start__mutmut_6": "only iteration and loop nodes get here, and both data models declare "
    "start_node_id (a str, '' by default): the getattr default is never used",
    "app.engine.graph.x__body_start__mutmut_9": "only iteration and loop nodes get here, and both data models declare "
    "start_node_id: dropping the getattr default changes nothing",
    "app.engine.graph.x__body_start__mutmut_12": "only iteration and loop nodes get here, and both data models "
    "declare start_node_id: the getattr default is never used",

    # infra/policy/rules.py
    "infra.policy.rules.x_prod_data_protection__mutmut_36":
        "an unset backup period reads as 1 day instead of 0: both are under 30",
    "infra.policy.rules.x_metrics_not_public__mutmut_50":
        "a backend port with neither name nor number reads as 'XXXX' instead of '': neither is a port "
        "Prometheus scrapes, and the /metrics check does not name the port",
    "infra.policy.rules.x_encryption_at_rest__mutmut_68":
        "a rule without sseAlgorithm reads as 'XXXX' instead of '': neither starts with aws:kms",
    "infra.policy.rules.x__kind__mutmut_5":
        "a missing kind reads as 'None' instead of '': neither is a kind any rule looks for",
    "infra.policy.rules.x__kind__mutmut_7":
        "a missing kind reads as 'None' instead of '': neither is a kind any rule looks for",
    "infra.policy.rules.x__kind__mutmut_10":
        "a missing kind reads as 'XXXX' instead of '': neither is a kind any rule looks for",
    "infra.policy.rules.x__kind__mutmut_14":
        "a non-Kubernetes resource's kind reads as 'XXXX' instead of '': no rule looks for that kind",
    "infra.policy.rules.x__cidrs__mutmut_69":
        "an ipBlock without cidr yields None instead of '': neither parses, so neither is a documentation range (and "
        "neither is 0.0.0.0/0)",
    "infra.policy.rules.x__cidrs__mutmut_71":
        "an ipBlock without cidr yields None instead of '': neither parses, so neither is a documentation range (and "
        "neither is 0.0.0.0/0)",
    "infra.policy.rules.x__cidrs__mutmut_74":
        "an ipBlock without cidr yields 'XXXX' instead of '': neither parses, so neither is a documentation range "
        "(and neither is 0.0.0.0/0)",
    "infra.policy.rules.x__documentation__mutmut_3":
        "ip_network only tests `if strict`: None is as false as False",
    "infra.policy.rules.x_buckets_locked_down__mutmut_4":
        "counting each resource twice doubles both sides of every comparison",
    "infra.policy.rules.x_node_autoscaler__mutmut_11":
        "the last '/'-separated part is the same however many splits are made",
    "infra.policy.rules.x_node_autoscaler__mutmut_22":
        "the last '/'-separated part is the same however many splits are made",
    "infra.policy.rules.x_node_autoscaler__mutmut_15":
        "a Release without chart reads as 'None' instead of '': neither is an autoscaler",
    "infra.policy.rules.x_node_autoscaler__mutmut_17":
        "a Release without chart reads as 'None' instead of '': neither is an autoscaler",
    "infra.policy.rules.x_node_autoscaler__mutmut_20":
        "a Release without chart reads as 'XXXX' instead of '': neither is an autoscaler",
    "infra.policy.rules.x_no_public_data__mutmut_29":
        "a bucket without acl reads as 'None' instead of '': neither starts with public",
    "infra.policy.rules.x_no_public_data__mutmut_31":
        "a bucket without acl reads as 'None' instead of '': neither starts with public",
    "infra.policy.rules.x_no_public_data__mutmut_34":
        "a bucket without acl reads as 'XXXX' instead of '': neither starts with public",
    "infra.policy.rules.x_pinned_images__mutmut_18":
        "the digest shortcut only saves work: for name@sha256:<hex> the text after the last colon is the hex, neither"
        " empty nor latest, so the image passes either way",
    "infra.policy.rules.x_pinned_images__mutmut_19":
        "the digest shortcut only saves work: for name@sha256:<hex> the text after the last colon is the hex, neither"
        " empty nor latest, so the image passes either way",
    "infra.policy.rules.x_pinned_images__mutmut_38":
        "the last '/'-separated part of an image is the same however many splits are made",
    "infra.policy.rules.x_pinned_images__mutmut_41":
        "the last '/'-separated part of an image is the same however many splits are made",
    "infra.policy.rules.x_pinned_images__mutmut_39":
        "an image reference has a colon only in the registry's port and in the tag, so after its first '/' a colon "
        "can only be the tag's, as after its last",
    "infra.policy.rules.x_probes_and_limits__mutmut_15":
        "_containers only tests `if ephemeral`: None is as false as False",

    # app/tools/registry.py
    "app.tools.registry.xǁToolRegistryǁ_builtin__mutmut_2": "the cache key's tag only keeps built-ins apart from "
    "installations (4-tuples) and MCP URLs (tagged mcp-url); any other tag does that as well",
    "app.tools.registry.xǁToolRegistryǁ_builtin__mutmut_3": "the cache key's tag only keeps built-ins apart from "
    "installations (4-tuples) and MCP URLs (tagged mcp-url); any other tag does that as well",
    "app.tools.registry.xǁToolRegistryǁ_server__mutmut_24": "the cache key's tag only keeps MCP URLs apart from "
    "built-ins (tagged builtin) and installations (4-tuples); any other tag does that as well",
    "app.tools.registry.xǁToolRegistryǁ_server__mutmut_25": "the cache key's tag only keeps MCP URLs apart from "
    "built-ins (tagged builtin) and installations (4-tuples); any other tag does that as well",
    "app.tools.registry.xǁToolRegistryǁresolve__mutmut_70": "an MCP server named by URL has no installation (find "
    "just returned None) and credentials belong to an installation, so the store answers {} under any type",
    "app.tools.registry.xǁToolRegistryǁresolve__mutmut_71": "an MCP server named by URL has no installation (find "
    "just returned None) and credentials belong to an installation, so the store answers {} under any type",
    "app.tools.registry.xǁToolRegistryǁproblem__mutmut_15": "problem() reads only the resolved credential key; "
    "the line before found no plugin of that id in the workspace, so resolving in workspace None reaches the same "
    "built-in (or the same ToolNotFound)",

    # app/engine/nodes/agent.py
    "app.engine.nodes.agent.x__function_calling__mutmut_23":
        "an extra round is never reached: the last round offers no tools, so it has no calls and the loop breaks there",
    "app.engine.nodes.agent.x__react__mutmut_26":
        "an extra round is never reached: the last round runs no action, so the loop breaks there",
    "app.engine.nodes.agent.x__react__mutmut_18":
        "the initial answer is never read: there is at least one round and the last one never runs an action, so the "
        "loop always sets the answer and breaks",
    "app.engine.nodes.agent.xǁAgentRunǁcomplete__mutmut_23":
        "LLMRequest's mode defaults to chat, the value passed",
    "app.engine.nodes.agent.x__function_calling__mutmut_99":
        "zip's strict only matters for lists of different lengths; observations are made one per call, so they never "
        "differ",
    "app.engine.nodes.agent.x__function_calling__mutmut_102":
        "zip's strict only matters for lists of different lengths; observations are made one per call, so they never "
        "differ",
    "app.engine.nodes.agent.x__function_calling__mutmut_103":
        "zip's strict only matters for lists of different lengths; observations are made one per call, so they never "
        "differ",
    "app.engine.nodes.agent.x__react__mutmut_19":
        "the initial answer is never read: there is at least one round and the last one never runs an action, so the "
        "loop always sets the answer and breaks",
    "app.engine.nodes.agent.x__react__mutmut_55":
        "complete() only tests `if stream`: None is as false as False",
    "app.engine.nodes.agent.xǁAgentNodeǁ_iterations__mutmut_12":
        "an empty value now reaches int(''), whose ValueError falls back to the same default",
}
