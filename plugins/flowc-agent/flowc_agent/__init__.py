"""flowc's built-in voice agent plugin: offline TTS engines, brains and the ``agent`` stage."""
