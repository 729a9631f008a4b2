"""Messages: what leaves and enters the kiosk over the network and the service manager. MQTT with its
outbox and Home Assistant discovery, signed and Home Assistant commands, the private broker, systemd notify."""
