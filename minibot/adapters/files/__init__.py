"""Storage back ends for scheduled jobs: the file store first."""
