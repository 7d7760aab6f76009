"""Tools, the services side: installed providers and sealed credentials in the database (`store`), the
management use-cases (`admin`) and the files port tools read and write through (`files`)."""
