"""Contacts: the CSV import (csv_import.py parses and normalises, api.py is the route)."""
