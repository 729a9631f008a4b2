"""Messages: what comes in and goes out besides the door. MQTT with its outbox and Home Assistant discovery,
signed and Home Assistant commands (verified in commands.py, acted on through the door in remote.py), the
demo's private broker, the snapshots kept on disk, and systemd's notify socket."""
