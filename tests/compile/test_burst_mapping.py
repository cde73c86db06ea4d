"""Burst networks -> learning plans: the burst probability table."""






def test_burst_table_in_voltage_units_whatever_the_threshold():
    from dataclasses import replace

    from neurolearn.compile.burst_mapping import compile_burst_network
    from neurolearn.train.onchip import xor_network

    net = xor_network(0)
    layers = tuple(replace(L, params=L.params._replace(threshold=2.0)) for L in net.layers)
    plan = compile_burst_network(replace(net, layers=layers), vth=128).plan
    hidden = plan.layer("hidden")
    assert hidden.vth == 256 and hidden.burst.lut_offset == round(net.layers[0].params.burst_offset * 128 * 64)
