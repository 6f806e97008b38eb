"""A third-party flowc plugin for flowc's own tests (installed by ``make setup``)."""
