"""Restoration of old photos at the scan's own resolution: a damage map, its repair, faded tones and colour,
optional colourisation and a gentle pass on faces. Each step is a module; `photogen.runner.restore` runs them
in order as one recorded job."""
