"""What a user runs end to end (train over seeds, evaluate, benchmark, predict, report, compare,
demo): one plain function per command, called by the CLI and the Python API alike."""
