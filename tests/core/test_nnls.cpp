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

TEST(Nnls, LeastAbsoluteTakesTheMedianWhereSquaresTakeTheMean) {
    // One column of ones: sum |x - b_i| is least at the median of b, sum (x - b_i)^2 at the mean.
    // b = (1, 2, 10): median 2, mean 13/3.
    const Eigen::MatrixXd a = Eigen::MatrixXd::Ones(3, 1);
    Eigen::VectorXd b(3);
    b << 1, 2, 10;
    EXPECT_NEAR(nonnegative_least_squares(a, b)[0], 13.0 / 3.0, 1e-12);
    EXPECT_NEAR(nonnegative_least_absolute(a, b, 1e-9, 200)[0], 2.0, 1e-5);
    // all of b below 0: the term is held at 0 by either
    EXPECT_EQ(nonnegative_least_absolute(a, -b)[0], 0.0);
}

TEST(Nnls, LeastAbsoluteFitsTheLineThroughFourPointsPastAnOutlier) {
    // y = 1 + 2 t at t = 0, 1, 2, 3, 4, but the point at t = 2 reads 25 (20 too high). The line itself leaves a
    // total |residual| of 20. Another line, (1, 2) + d, leaves |d0| + |d0 + d1| + |20 - d0 - 2 d1| + |d0 + 3 d1|
    // + |d0 + 4 d1|; as |20 - d0 - 2 d1| >= 20 - |d0 + 2 d1| and d0 + 2 d1 is the mean of d0 + d1 and d0 + 3 d1,
    // that is at least 20 + |d0| + |d0 + 4 d1| + (|d0 + d1| + |d0 + 3 d1|) / 2, above 20 unless d = 0. Least
    // squares instead lifts the intercept by 20 / 5 = 4 (the slope's sum of (t - 2) x 20 is 0).
    Eigen::MatrixXd a(5, 2);
    Eigen::VectorXd b(5);
    for (int t = 0; t < 5; ++t) a(t, 0) = 1.0, a(t, 1) = t, b[t] = 1.0 + 2.0 * t;
    b[2] += 20.0;
    const Eigen::VectorXd ls = nonnegative_least_squares(a, b);
    EXPECT_NEAR(ls[0], 5.0, 1e-9);
    EXPECT_NEAR(ls[1], 2.0, 1e-9);
    const Eigen::VectorXd l1 = nonnegative_least_absolute(a, b, 1e-9, 200);
    EXPECT_NEAR(l1[0], 1.0, 1e-4);
    EXPECT_NEAR(l1[1], 2.0, 1e-4);
}
