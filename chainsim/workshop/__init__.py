"""The workshop: a live, in-browser view of the chain for a room of business owners.

``chainsim workshop [SCENARIO] [--port P]`` serves :mod:`chainsim.workshop.app`,
a Solara page built on Mesa's SolaraViz: sliders per link, the chain drawn,
charts that move as the business runs, one customer's journey, and a compare
mode that runs the room's proposal beside the business as it is.
"""
