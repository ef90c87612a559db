"""Reminders and scheduled prompts: the job service, its strategies and its surfaces."""
