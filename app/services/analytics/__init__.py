"""Analytics (SPEC §7): per-patient values extracted in SQL, judged by app.stats."""
