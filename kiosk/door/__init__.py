"""The door: what the visitor meets. door.py's Door owns the gate relay (gate.py), the status light and
buzzer (lights.py), the mode and every deadline on one clock; sound.py is the sound prompts' output;
decision.py the vocabulary of outcomes, reasons and modes and the k-of-n decision."""
