"""Use-cases: apps, keys, runs, execution. Services own transactions; they never see Flask or HTTP.
They may import `app.engine`, `app.providers`, `app.models`, `app.db` and `app.errors`, never `app.api` or
`worker`."""
