#pragma once
// The studio's side of the ML worker (docs/worker-protocol.md): starts
// `microstudio-ml serve` on the first request (not at launch), keeps it warm
// between requests, sends each request with an id of its own and hands every
// event of that id to the request's handler, on the GUI thread. A worker that
// stops (crash, kill -9, out of memory) ends the request in flight with one
// error event naming what happened, and the next request starts a fresh one:
// the studio and what it shows survive.
#include <QObject>
#include <QProcess>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>

#include "microstudio/core/json.hpp"

namespace ms::ui {

class MlWorker : public QObject {
    Q_OBJECT
public:
    using Handler = std::function<void(const Json& event)>;

    // How the worker's torch (OpenMP) threads wait between operations, set in
    // its environment unless the studio's own sets OMP_WAIT_POLICY or
    // GOMP_SPINCOUNT (docs/benchmarks.md, "Training through the ML worker"):
    // Passive (sleep at once: generation beside the Design tab's previews was
    // 3x faster so) or BriefSpin (spin about 100,000 rounds, then sleep: a
    // training, whose many small operations pay a wake-up each, 1.7x faster).
    enum class ThreadWaiting { Passive, BriefSpin };
    explicit MlWorker(QObject* parent = nullptr, ThreadWaiting waiting = ThreadWaiting::Passive);
    ~MlWorker() override;  // asks the worker to stop, then kills it after 2 s

    // Sends `request` (its "op" and fields; the id is set here) and returns
    // the id. The handler gets a progress event while the worker starts, then
    // the worker's events; "done" or "error" is the last one. It is never
    // called before send() returns.
    std::int64_t send(Json request, Handler handler);
    void cancel(std::int64_t id);
    // A control message for a request in flight ("pause", "resume": it
    // names the request's id); dropped when that request has ended.
    void control(const Json& message);
    bool busy() const { return !handlers_.empty(); }
    // The worker's process id while it runs (0 otherwise): for tests.
    qint64 processId() const;
    // $MICROSTUDIO_ML_WORKER, else microstudio-ml beside the executable, else on PATH.
    static QString executable();
    // Asks the worker executable for its `--version` line (its LibTorch and
    // compute device) without blocking: `answer` gets (true, the line), or
    // (false, why it could not be asked), on the event loop about 0.5 s
    // later; nothing is called once `context` is gone.
    static void askVersion(QObject* context, std::function<void(bool answered, const QString& line)> answer);

private:
    void start();
    void readEvents();
    void readErrors();
    void stopped(const QString& why);
    void deliver(const Json& event);

    std::unique_ptr<QProcess> process_;
    QByteArray pending_;    // stdout after the last complete line
    QByteArray errorTail_;  // the worker's last stderr output, for the death message
    std::map<std::int64_t, Handler> handlers_;
    std::int64_t nextId_ = 1;
    ThreadWaiting waiting_;
};

}  // namespace ms::ui
