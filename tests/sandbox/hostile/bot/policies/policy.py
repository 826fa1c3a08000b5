class Policy:
    def __init__(self, **kwargs):
        pass

    def load_historical(self, external_states):
        pass
