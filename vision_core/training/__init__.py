"""Training: one engine (``engine.train``) shared by the CLI, the workers and the app.

The Lightning module and the Fabric loop, the live callback (pause/step/stop/lr), snapshots, the teacher's memory
guards, presets, shareable set-ups and the advice for a run stuck at chance. Imports data, models, runs, analysis
(filters for snapshots) and the top-level config and limits; never the classroom.
"""
