"""flowc's built-in transcriber plugin: streaming speech-to-text with pluggable engines."""
