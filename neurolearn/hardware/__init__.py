"""Hardware targeting: chip/board descriptions (data files), core mapping, fit check, deploy."""
