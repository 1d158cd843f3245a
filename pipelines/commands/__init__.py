"""CLI subcommands; each module exposes ``register(app)`` and keeps its heavy imports lazy."""
