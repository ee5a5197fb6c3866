"""Service functions of the web layer: keyword-only, each takes the acting user and a reason,
authorises and audits through the care store's gate before it reads patient data from the
warehouse. Routes only translate HTTP to these calls."""
