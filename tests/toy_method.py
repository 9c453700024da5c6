"""A toy unlearning method, registered from outside the package as a config's ``plugins`` entry would be
(tests/test_methods.py, tests/test_workflow.py; docs/extending.md walks through the same steps).

``interpolate``: theta = (1 - t) theta_backdoored + t theta_base, evaluated once. With t = 0 it is the backdoored
model, so its table row must equal the backdoored one.
"""

from bdunlearn.methods import Method, register


@register
class Interpolate(Method):
    name = "interpolate"
    label = "Interp."
    family = "weight_space"
    needs_base_state = True
    forget_rows = False
    retain_rows = False
    hyperparameters = {"interpolate_t": {"type": "number", "minimum": 0, "maximum": 1, "default": 0.5,
                                         "description": "weight t of the pretrained weights"}}

    def run(self, job):
        t = self.hp(job.params["unlearn"])["interpolate_t"]
        base = job.base.editable_state()
        state = {k: (1 - t) * v + t * base[k].to(v.device, v.dtype) for k, v in job.model.editable_state().items()}
        job.model.load_editable_state(state)
        job.snapshot(None)
        return {"history": [{"t": t}], "t": t}
