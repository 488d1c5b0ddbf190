//! Configuration: one TOML file or the embedded defaults, validated, split into section structs.
