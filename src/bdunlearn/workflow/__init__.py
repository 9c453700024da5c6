"""Workflow support: config validation, the steps' command-line plumbing, process settings, GPU leases, plugins,
profile checks and the HTML report."""
