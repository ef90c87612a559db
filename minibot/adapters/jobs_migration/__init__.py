"""`minibot jobs migrate`: moving every job between the file and the SQL job store."""
