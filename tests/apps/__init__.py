"""Small applications that `queuekit worker --app tests.apps...` imports in the CLI tests."""
