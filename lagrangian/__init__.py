"""twinflow.lagrangian: particles pushed by vector fields.

Integrators (ODE/SDE steppers with declared orders), vector fields (affine, gradient, flow matching,
probability flow, grid-interpolated), mean-field systems (self-attention tokens, two-layer networks),
Wasserstein gradient flows of particles (blob method, implicit-Euler/JKO steps),
empirical W2 between clouds, and deposition of particles to grid densities. Conventions: points-last
(n, d) clouds; dX = b dt + sqrt(2D) dW; W2 functions named ``w2`` return the distance, ``w2_squared``
the square. NumPy and CuPy share one code path (the namespace is read from the inputs).
"""
from .backend import get_namespace, get_xp, to_numpy
from .deposit import deposit, gaussian_kde, kde_bandwidth_factor
from .errors import BackendUnavailable, LagrangianError, MemoryBudgetError, NumericalError
from .fields import (AffineField, FlowMatchingKernelField, GridVelocityField, affine_field,
                     flow_matching_field_from_samples, gradient_field, grid_velocity_field,
                     probability_flow_field)
from .gradient_flows import (BlobFlow, ImplicitFlow, ImplicitStep, blob_density, blob_energy, blob_flow,
                             blob_velocity, implicit_euler_flow, implicit_euler_step)
from .integrators import (ODE_STEPPERS, SDE_STEPPERS, ODEStepper, SDEStepper, integrate_ode, integrate_sde,
                          noise_factor)
from .meanfield import (AttentionField, NetworkField, attention_field, network_field, network_loss,
                        network_output, softmax_attention)
from .transport import sliced_w2, w2, w2_squared

__all__ = [
    "get_namespace", "get_xp", "to_numpy",
    "deposit", "gaussian_kde", "kde_bandwidth_factor",
    "BackendUnavailable", "LagrangianError", "MemoryBudgetError", "NumericalError",
    "AffineField", "FlowMatchingKernelField", "GridVelocityField", "affine_field",
    "flow_matching_field_from_samples", "gradient_field", "grid_velocity_field", "probability_flow_field",
    "BlobFlow", "ImplicitFlow", "ImplicitStep", "blob_density", "blob_energy", "blob_flow", "blob_velocity",
    "implicit_euler_flow", "implicit_euler_step",
    "ODE_STEPPERS", "SDE_STEPPERS", "ODEStepper", "SDEStepper", "integrate_ode", "integrate_sde", "noise_factor",
    "AttentionField", "NetworkField", "attention_field", "network_field", "network_loss", "network_output",
    "softmax_attention",
    "sliced_w2", "w2", "w2_squared",
]
