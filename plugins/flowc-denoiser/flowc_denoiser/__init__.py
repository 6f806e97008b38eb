"""flowc-denoiser: streaming noise suppression for the caller's audio (RNNoise, speexdsp)."""
