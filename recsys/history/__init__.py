"""Who consumed what, when: interactions, point-in-time item stats, logged events."""
