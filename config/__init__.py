"""Settings: one typed table of BUDKAVLE_* environment variables."""

from config.settings import (
    Settings,
    SettingsError,
    get_settings,
    load_settings,
    settings_or_exit,
)

__all__ = ["Settings", "SettingsError", "get_settings", "load_settings", "settings_or_exit"]
