"""`sfteval check`, a statistical regression gate: leaderboards as code (leaderboard.py), their per-sample
baselines (baseline.py), the paired tests with Holm's correction (gate.py), and the verdict as a table,
markdown, JSON or JUnit XML (render.py)."""
