"""flowc-recorder: one durable WAV (and a JSON sidecar) per Plivo audio stream."""
