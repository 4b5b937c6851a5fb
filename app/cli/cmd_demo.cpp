#include <iostream>

#include "args.hpp"
#include "commands.hpp"

namespace ms::cli {

int cmdDemo(const CommandArgs& argv) {
    Args args(argv, {"output"}, {});
    if (args.helpRequested()) {
        std::cout << "Usage: microstudio-cli demo [-o FOLDER]\n\nHeadless demo of the studio's path.\n";
        return 0;
    }
    std::cout << "demo: not available yet\n";
    return 1;
}

}  // namespace ms::cli
