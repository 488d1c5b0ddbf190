//! The `mailwacht` command line. Thin: parses flags, loads the configuration, calls the library.
