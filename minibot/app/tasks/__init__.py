"""Reminders and scheduled prompts: the task service, its strategies and its surfaces."""
