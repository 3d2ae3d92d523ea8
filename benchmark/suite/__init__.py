"""Suite files: the schema and its validation, the training options, the [search] table, run planning and run keys, the TOML writer."""
