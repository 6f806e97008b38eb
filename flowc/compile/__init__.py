"""The compile wing: YAML flow -> diagnostics -> :class:`flowc.model.CompiledFlow` -> XML."""
