// LOCKSTEP_FAULT parsing (trainer/fault.hpp): the actions, any key order, and
// clear errors for malformed values.

#include "trainer/fault.hpp"

#include <gtest/gtest.h>

#include <string>

#include "core/error.hpp"

namespace lockstep::trainer {
namespace {

TEST(Fault, ParsesEveryAction) {
  const FaultPlan p = parse_fault("rank=1,step=5,action=exit");
  EXPECT_EQ(p.rank, 1);
  EXPECT_EQ(p.step, 5);
  EXPECT_EQ(p.action, FaultPlan::Action::kExit);
  EXPECT_TRUE(p.due(1, 5));
  EXPECT_FALSE(p.due(0, 5));
  EXPECT_FALSE(p.due(1, 4));
  EXPECT_EQ(parse_fault("action=kill,step=0,rank=0").action, FaultPlan::Action::kKill);
  EXPECT_EQ(parse_fault("rank=2,step=9,action=hang").action, FaultPlan::Action::kHang);
  EXPECT_EQ(parse_fault("rank=2,step=9,action=nan").action, FaultPlan::Action::kNan);
  EXPECT_FALSE(FaultPlan{}.due(-1, -1));
}

std::string error_of(const std::string& text) {
  try {
    parse_fault(text);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Fault, MalformedValuesAreClearErrors) {
  for (const char* bad :
       {"rank=1,step=5", "rank=1,step=5,action=explode", "rank=x,step=5,action=exit",
        "rank=1,step=-2,action=exit", "rank=1,step=5,action=exit,when=now",
        "rank=1;step=5;action=exit", "garbage"}) {
    const std::string e = error_of(bad);
    EXPECT_NE(e.find("LOCKSTEP_FAULT: expected 'rank=R,step=S,action=exit|kill|hang|nan', got '" +
                     std::string(bad) + "'"),
              std::string::npos)
        << bad << ": " << e;
  }
  EXPECT_NE(error_of("rank=1,step=5").find("missing action"), std::string::npos);
  EXPECT_NE(error_of("rank=1,step=5,action=explode").find("unknown action 'explode'"),
            std::string::npos);
}

TEST(Fault, NoneActionInjectsNothing) {
  EXPECT_FALSE(inject_fault(FaultPlan{}));
}

}  // namespace
}  // namespace lockstep::trainer
