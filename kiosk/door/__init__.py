"""The door: what the visitor meets. The gate relay, the status light and buzzer, the sound prompts and
the decision vocabulary (outcomes and reasons)."""
