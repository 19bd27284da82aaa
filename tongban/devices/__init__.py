"""The devices process: the scheduler, print worker, display follower and keypad router, each on
its own thread loop (docs/architecture.md, "Processes")."""
