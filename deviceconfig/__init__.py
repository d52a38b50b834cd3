"""Remote configuration of the agents: layered settings with revisions, published retained.

An engineer (or the service itself) sets a *layer* for the fleet, a cohort (model, and
optionally OS version) or one device; each layer is a new revision. A device's effective
config merges the layers that apply to it, the more specific over the broader, and goes to
the device as a retained `DeviceConfig` on its `config` topic. The agent reports the
revision it applied, or why it refused one, in its status.
"""
