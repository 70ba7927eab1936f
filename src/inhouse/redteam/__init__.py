"""`inhouse redteam`: attacks on a sandbox copy of InHouse, every kind of leak counted.

- `answers`: the planted corpus, the question cases and their checks through the answer pipeline (a
  worst-case model that obeys anything, and the real local model end to end);
- `http`: the same corpus served by a real server on loopback, attacked through every reader route;
- `suite`: both, in one sandbox (`run`).

It sits above the stages and the server it attacks; the guard's primitives know nothing of it.
"""
