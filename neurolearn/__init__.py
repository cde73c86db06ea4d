"""neurolearn: snntorch -> NIR -> Lava, with a bit-exact fast fixed-point simulator."""

__version__ = "0.1.0"
