"""The bridge between core jobs and the GUI: jobs run in child processes, supervised by a
QThread that turns their events into Qt signals. Only this folder and gui/ import Qt."""
