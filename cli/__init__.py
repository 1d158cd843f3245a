"""The ``monitor`` command line: subcommands over pipelines, training and monitor."""
