// Non-negative least squares (nnls.hpp) against problems solved by hand.
#include <gtest/gtest.h>

#include "headroom/core/nnls.hpp"

using namespace headroom;

TEST(Nnls, HoldsANegativeTermAtZeroAndRefitsTheRest) {
    // A = [[1, 0], [0, 1], [1, 1]], b = (2, -1, 1). Unconstrained: A'A = [[2, 1], [1, 2]], A'b = (3, 0), so
    // x = (1/3)[[2, -1], [-1, 2]] (3, 0) = (2, -1). With x2 held at 0, (x1 - 2)^2 + 1 + (x1 - 1)^2 is least
    // at x1 = 1.5; there the gradient of x2, A2'(b - A x) = (-1 - 0) + (1 - 1.5) = -1.5, says keeping it at 0
    // is right.
    Eigen::MatrixXd a(3, 2);
    a << 1, 0, 0, 1, 1, 1;
    Eigen::VectorXd b(3);
    b << 2, -1, 1;
    const Eigen::VectorXd x = nonnegative_least_squares(a, b);
    EXPECT_NEAR(x[0], 1.5, 1e-12);
    EXPECT_EQ(x[1], 0.0);
}

TEST(Nnls, RecoversAnExactNonNegativeSolutionAndZeroesAnEmptyColumn) {
    // b = A (0.5, 2, 0): (1 x 0.5 + 2 x 2, 3 x 0.5 + 4 x 2, 5 x 0.5 + 6 x 2) = (4.5, 9.5, 14.5); the third
    // column is all zero, so its term is 0
    Eigen::MatrixXd a(3, 3);
    a << 1, 2, 0, 3, 4, 0, 5, 6, 0;
    Eigen::VectorXd b(3);
    b << 4.5, 9.5, 14.5;
    const Eigen::VectorXd x = nonnegative_least_squares(a, b);
    EXPECT_NEAR(x[0], 0.5, 1e-12);
    EXPECT_NEAR(x[1], 2.0, 1e-12);
    EXPECT_EQ(x[2], 0.0);
    // columns of very different scales (seconds beside ratios) come out the same
    Eigen::MatrixXd s = a;
    s.col(0) *= 1e-6;
    const Eigen::VectorXd y = nonnegative_least_squares(s, b);
    EXPECT_NEAR(y[0], 0.5e6, 1e-3);
    EXPECT_NEAR(y[1], 2.0, 1e-9);
    // every term negative at the unconstrained optimum: all held at 0
    EXPECT_EQ(nonnegative_least_squares(a, -b).norm(), 0.0);
}
