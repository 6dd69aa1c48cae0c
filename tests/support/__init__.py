"""Plain helpers shared by the tests: functions, classes and constants, no fixtures (those are
in ``tests/fixtures``). A test module imports what it needs from here, never from another test
module."""
