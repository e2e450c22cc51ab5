// raii: two clients share one seat of a feature. While the first holds it
// in a scope, the second is refused with no_seats_available; once the
// scope ends, the seat is given back and the second gets it.
//
//   c++ -std=c++17 -o raii raii.cpp -I dist -L dist -lusher
//   USHER_SERVER=127.0.0.1:7420 LD_LIBRARY_PATH=dist ./raii cad
#include <iostream>

#include "usher.hpp"

int main(int argc, char **argv) {
    const std::string feature = argc > 1 ? argv[1] : "cad";
    try {
        usher::client first("", R"({"client_id":"raii-first"})");
        usher::client second("", R"({"client_id":"raii-second"})");
        {
            usher::lease held = first.checkout(feature);
            held.on_lost([](const usher::error &e) { std::cerr << "lost: " << e.code() << ": " << e.what() << "\n"; });
            try {
                usher::lease refused = second.checkout(feature);
                std::cerr << "the second client got a seat the first one holds\n";
                return 1;
            } catch (const usher::error &e) {
                if (e.code() != "no_seats_available") {
                    throw;
                }
                std::cout << "second client refused: " << e.code() << "\n";
            }
        } // the first seat is given back here
        usher::lease got = second.checkout(feature);
        std::cout << "second client checked out " << feature << ": alive " << got.alive() << "\n";
    } catch (const usher::error &e) {
        std::cerr << "usher: " << e.code() << ": " << e.what() << "\n";
        return 1;
    }
    return 0;
}
