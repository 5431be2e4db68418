"""The budkavle command and the wiring of its processes."""
