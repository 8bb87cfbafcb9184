// Non-negative least squares: the x >= 0 that minimises |A x - b|, by Lawson and Hanson's active-set method
// (Solving Least Squares Problems, 1974, ch. 23): terms enter the free set one at a time, by the gradient,
// and a term the unconstrained solve would take below zero is held at zero. For fits whose terms are times or
// multiples of times that cannot be negative (sim/calibrate.cpp's fused-MoE and MLA fits, mla_norm_chain.cpp). Where columns are collinear
// the solution is one of the optimal ones. Include it only from a target that links Eigen.
#pragma once

#include <Eigen/Dense>

namespace headroom {

// Columns are scaled to unit norm inside (the fits mix seconds with ratios); a zero column gets 0.
Eigen::VectorXd nonnegative_least_squares(const Eigen::MatrixXd& a, const Eigen::VectorXd& b);

}  // namespace headroom
